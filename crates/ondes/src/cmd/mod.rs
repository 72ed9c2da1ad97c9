//! One module per subcommand.

pub mod bench;
pub mod probe;
pub mod send;
pub mod serve;
pub mod token;
