//! `/rate-limiting` and `/defer`.

use crate::config_object;
use crate::model::{Ctx, Int0_32, IntPositive, ObjectHook};
use crate::node::Node;
use crate::path::Path;
use crate::types::TimeUnit;

/// The largest instant limit kresd accepts: 2^32 / 768 - 1.
pub const MAX_INSTANT_LIMIT: i64 = (1 << 32) / 768 - 1;

config_object! {
    /// Configuration of rate limiting.
    pub struct RateLimitingSchema {
        /// Enable/disable rate limiting
        "enable" enable: bool = false,
        /// Maximal number of allowed queries per second from a single host.
        "rate-limit" rate_limit: Option<IntPositive>,
        /// Maximal number of allowed queries at a single point in time from a single host.
        "instant-limit" instant_limit: IntPositive = IntPositive::new(50),
        /// Expected maximal number of blocked networks/hosts at the same time.
        "capacity" capacity: IntPositive = IntPositive::new(524288),
        /// Number of restricted responses out of which one is sent as truncated, the others are dropped.
        "slip" slip: Int0_32 = Int0_32::new(2),
        /// Minimal time between two log messages, or '0s' to disable.
        "log-period" log_period: TimeUnit = TimeUnit::from_static("0s"),
        /// Perform only classification and logging but no restrictions.
        "dry-run" dry_run: bool = false,
    }
}

impl ObjectHook for RateLimitingSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        if self.enable && self.rate_limit.is_none() {
            cx.error(path, Some(node), "'rate-limit' is required when rate limiting is enabled");
        }
        let instant = self.instant_limit.get();
        if instant > MAX_INSTANT_LIMIT {
            cx.error(
                path,
                Some(node),
                format!("'instant-limit' {instant} is higher than the maximum {MAX_INSTANT_LIMIT}"),
            );
        }
        if let Some(rate) = self.rate_limit
            && rate.get() > 1000 * instant
        {
            cx.error(
                path,
                Some(node),
                format!("'rate-limit' {} is higher than 1000 times 'instant-limit' ({})", rate.get(), 1000 * instant),
            );
        }
    }
}

config_object! {
    /// Configuration of request prioritization (defer).
    pub struct DeferSchema {
        /// Use request prioritization.
        "enable" enable: bool = true,
        /// Minimal time between two log messages, or '0s' to disable.
        "log-period" log_period: TimeUnit = TimeUnit::from_static("0s"),
    }
}
impl ObjectHook for DeferSchema {}
