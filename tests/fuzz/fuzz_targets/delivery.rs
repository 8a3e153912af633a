//! cargo-fuzz target: the streaming DELIVERY reader must never panic and
//! must locate every refusal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use saad_gateway::xml::DeliveryReader;

fuzz_target!(|data: &[u8]| {
    for line in DeliveryReader::new(data) {
        match line {
            Ok(line) => {
                if let Some(problem) = line.submission.problem {
                    assert!(problem.line >= 1 && problem.column >= 1);
                }
            }
            Err(error) => {
                assert!(error.line >= 1 && error.column >= 1);
                break;
            }
        }
    }
});
