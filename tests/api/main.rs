//! Black-box API tests: the real gateway (storage, rules, HTTPS) started on
//! 127.0.0.1 with a random port, driven with a real HTTPS client. One test
//! binary (one link step); one module per resource.

mod batches;
mod close;
mod close_atomic;
mod close_notice;
mod deliveries;
mod deliveries_in_parts;
mod events;
mod helpers;
mod immutability;
mod invoices;
mod openapi;
mod orders;
mod overruns;
mod rejections;
mod saad_invoices;
mod saads;
mod smoke;
mod two_months;
