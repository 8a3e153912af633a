//! Fuzz-style properties: arbitrary bytes and mutations of the sample
//! DELIVERY never make a reader panic; every error is located (line ≥ 1).

use proptest::prelude::*;
use saad_gateway::xml::{DeliveryReader, read_delivery, read_invoice, read_order};

const SAMPLE: &[u8] = include_bytes!("fixtures/esppadom/delivery-apa-example.xml");

fn check(bytes: &[u8]) {
    match read_delivery(bytes) {
        Ok(delivery) => {
            for line in delivery.lines {
                if let Some(problem) = line.submission.problem {
                    assert!(problem.line >= 1 && problem.column >= 1);
                }
            }
        }
        Err(error) => assert!(error.line >= 1 && error.column >= 1, "{error:?}"),
    }
    let _ = read_order(bytes);
    let _ = read_invoice(bytes);
    // Tiny buffers exercise every refill boundary of the streaming reader.
    for line in DeliveryReader::new(std::io::BufReader::with_capacity(7, bytes)) {
        if line.is_err() {
            break;
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Insert(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip(at, byte)),
        (any::<usize>(), 0usize..200).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), 0usize..400).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
        (
            any::<usize>(),
            prop_oneof![
                Just(b"<".to_vec()),
                Just(b"&amp;".to_vec()),
                Just(b"&x;".to_vec()),
                Just(b"<!DOCTYPE a>".to_vec()),
                Just(b"</ram:ID>".to_vec()),
                Just(b"<![CDATA[x]]>".to_vec()),
                Just(b"\xff\xfe".to_vec()),
                Just(b"xmlns:ram=\"urn:other\"".to_vec()),
                Just(b"&#0;".to_vec()),
                Just(b"<a/>".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..20),
            ]
        )
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len().max(1);
    match mutation {
        Mutation::Flip(at, byte) => {
            let at = at % len;
            if let Some(b) = bytes.get_mut(at) {
                *b = *byte;
            }
        }
        Mutation::Delete(at, count) => {
            let at = at % len;
            let end = (at + count).min(bytes.len());
            if at < end {
                bytes.drain(at..end);
            }
        }
        Mutation::Duplicate(at, count) => {
            let at = at % len;
            let end = (at + count).min(bytes.len());
            if at < end {
                let chunk = bytes[at..end].to_vec();
                bytes.splice(at..at, chunk);
            }
        }
        Mutation::Insert(at, insert) => {
            let at = (at % len).min(bytes.len());
            bytes.splice(at..at, insert.iter().copied());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        check(&bytes);
    }

    #[test]
    fn mutated_sample_deliveries_never_panic(mutations in proptest::collection::vec(mutation(), 1..6)) {
        let mut bytes = SAMPLE.to_vec();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        check(&bytes);
    }
}
