//! One module per subcommand.

pub mod adaptive_real;
pub mod bench;
pub mod listen;
pub mod netsim;
pub mod probe;
pub mod send;
pub mod serve;
pub mod token;
