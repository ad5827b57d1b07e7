//! What a human reads about runs, kept apart from their storage (`exphil-runs`): the loss-curve
//! PNG and terminal sparkline (`plot`), the results of `exphil bench architectures` (`bench`) and
//! their console table and self-contained HTML page (`report`), and TensorBoard event files
//! (`tensorboard`). No ML dependency.
#![deny(missing_docs)]

pub mod bench;
pub mod plot;
pub mod report;
pub mod tensorboard;
