#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use wadm_actors::model::Venue;

// Spot and linear share one protocol; the first byte picks the venue.
fuzz_target!(|data: &[u8]| {
    if let Some((&first, frame)) = data.split_first() {
        let venue = if first % 2 == 0 { Venue::BybitSpot } else { Venue::BybitLinear };
        common::check(venue, frame);
    }
});
