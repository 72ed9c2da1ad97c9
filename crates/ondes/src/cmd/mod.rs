//! One module per subcommand, and the argument parsing they share ([`duration`]).

pub mod adaptive_real;
pub mod bench;
pub mod bench_floor;
pub mod bench_soak;
pub mod devices;
pub mod duration;
pub mod listen;
pub mod netsim;
pub mod probe;
pub mod say;
pub mod send;
pub mod serve;
pub mod token;
