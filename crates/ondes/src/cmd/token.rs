//! `ondes token`: mint a JWT for the API.

use anyhow::Context;
use clap::Args;
use ondes_server::auth::{Authenticator, Claims, Permission};

#[derive(Args)]
pub struct TokenArgs {
    /// The server's secret (auth.secret). Defaults to $ONDES_AUTH_SECRET.
    #[arg(long, env = "ONDES_AUTH_SECRET", hide_env_values = true)]
    secret: String,
    /// Subject (user id) of the token.
    #[arg(long, default_value = "ondes-user")]
    sub: String,
    /// Permission to grant (repeatable): subscribe, publish, stream_control, debug_access, admin.
    #[arg(long = "perm", required = true)]
    perms: Vec<String>,
    /// Limit the token to these stream ids (repeatable); default: all streams.
    #[arg(long = "stream")]
    streams: Vec<String>,
    /// Lifetime, e.g. 30m, 1h, 7d, or seconds.
    #[arg(long, default_value = "1h")]
    ttl: String,
}

/// Parses `90`, `90s`, `30m`, `1h`, `7d` into seconds.
pub fn parse_ttl(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86_400),
        _ => (s, 1),
    };
    let n: u64 =
        num.parse().with_context(|| format!("--ttl '{s}': use a number with s, m, h or d, e.g. 1h"))?;
    Ok(n * mult)
}

pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    if args.secret.is_empty() {
        anyhow::bail!("--secret is empty: pass the server's auth.secret");
    }
    let mut perms = Vec::new();
    for p in &args.perms {
        perms.push(Permission::parse(p).with_context(|| {
            format!("unknown permission '{p}'; use subscribe, publish, stream_control, debug_access or admin")
        })?);
    }
    let ttl = parse_ttl(&args.ttl)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let auth = Authenticator::new(args.secret.as_bytes());
    let claims = Claims {
        sub: args.sub,
        exp: now + ttl,
        iat: Some(now),
        nbf: None,
        permissions: perms.iter().map(|p| p.name().to_string()).collect(),
        streams: (!args.streams.is_empty()).then_some(args.streams),
    };
    println!("{}", auth.mint_claims(&claims));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl() {
        assert_eq!(parse_ttl("1h").unwrap(), 3600);
        assert_eq!(parse_ttl("90").unwrap(), 90);
        assert_eq!(parse_ttl("7d").unwrap(), 604_800);
        assert!(parse_ttl("soon").is_err());
    }
}
