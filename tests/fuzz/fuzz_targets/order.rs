//! cargo-fuzz target: the ORDER reader must never panic and must locate
//! every refusal and every plan-line problem.
#![no_main]

use libfuzzer_sys::fuzz_target;
use saad_gateway::xml::read_order;

fuzz_target!(|data: &[u8]| {
    match read_order(data) {
        Ok(plans) => {
            for plan in plans {
                if let Some(problem) = plan.problem {
                    assert!(problem.line >= 1 && problem.column >= 1);
                }
            }
        }
        Err(error) => assert!(error.line >= 1 && error.column >= 1),
    }
});
