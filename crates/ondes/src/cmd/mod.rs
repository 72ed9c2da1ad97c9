//! One module per subcommand.

pub mod adaptive_real;
pub mod bench;
pub mod bench_floor;
pub mod listen;
pub mod netsim;
pub mod probe;
pub mod send;
pub mod serve;
pub mod token;
