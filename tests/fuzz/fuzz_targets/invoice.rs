//! cargo-fuzz target: the INVOICE reader must never panic and must locate
//! every refusal and every line problem.
#![no_main]

use libfuzzer_sys::fuzz_target;
use saad_gateway::xml::read_invoice;

fuzz_target!(|data: &[u8]| {
    match read_invoice(data) {
        Ok(invoices) => {
            for invoice in invoices {
                if let Some(problem) = invoice.problem {
                    assert!(problem.line >= 1 && problem.column >= 1);
                }
                for line in invoice.lines {
                    if let Some(problem) = line.problem {
                        assert!(problem.line >= 1 && problem.column >= 1);
                    }
                }
            }
        }
        Err(error) => assert!(error.line >= 1 && error.column >= 1),
    }
});
