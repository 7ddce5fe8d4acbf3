#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use wadm_actors::model::Venue;

fuzz_target!(|data: &[u8]| common::check(Venue::BinanceUsdm, data));
