//! The correlation engine in Rust: a port of correlation/*.py that gives the same changes,
//! picture and snapshot, byte for byte. `bindings` is the Python face (`correlation.native`
//! wraps it); the other modules mirror the Python modules of the same names.

mod bindings;
mod capacity;
mod changes;
mod clock;
mod clustering;
mod config;
mod context;
mod districts;
mod engine;
mod escalation;
mod incident_state;
mod incidents;
mod overrides;
mod pyconfig;
mod pyviews;
mod reader;
mod report;
mod snapshot;
mod spatial;
mod validity;
mod warnings;
mod wire;

/// Everything the modules share; one glob import keeps the module headers short.
mod prelude {
    pub use std::cmp::Reverse;
    pub use std::collections::BinaryHeap;
    pub use std::sync::Arc;

    pub use indexmap::IndexMap;
    pub use rustc_hash::{FxHashMap, FxHashSet};

    pub use crate::capacity::*;
    pub use crate::changes::*;
    pub use crate::clock::*;
    pub use crate::clustering::*;
    pub use crate::config::*;
    pub use crate::context::*;
    pub use crate::districts::*;
    pub use crate::engine::*;
    pub use crate::escalation::*;
    pub use crate::incident_state::*;
    pub use crate::report::*;
    pub use crate::spatial::*;
    pub use crate::warnings::*;

    /// A dict that keeps insertion order like Python's (snapshots encode it in that order).
    pub type FxIndexMap<K, V> = IndexMap<K, V, rustc_hash::FxBuildHasher>;
}

use pyo3::prelude::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<bindings::Core>()?;
    m.add_function(pyo3::wrap_pyfunction!(reader::parse, m)?)?;
    Ok(())
}
