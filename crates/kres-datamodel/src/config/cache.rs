//! `/cache`: the shared LMDB cache, its garbage collector, prefill and prefetch.

use crate::config_object;
use crate::model::{Ctx, IntNonNegative, IntPositive, ObjectHook, Percent};
use crate::node::Node;
use crate::path::Path;
use crate::types::{DomainName, ReadableFile, SizeUnit, Text, TimeUnit, WritableDir};

config_object! {
    /// Use the garbage collector (kres-cache-gc) to periodically clear cache.
    pub struct GarbageCollectorSchema {
        /// Enable/disable cache garbage collector.
        "enable" enable: bool = true,
        /// Time interval how often the garbage collector will be run.
        "interval" interval: TimeUnit = TimeUnit::from_static("1s"),
        /// Cache usage in percent that triggers the garbage collector.
        "threshold" threshold: Percent = Percent::new(80),
        /// Percent of used cache to be freed by the garbage collector.
        "release" release: Percent = Percent::new(10),
        /// Maximum amount of temporary memory for copied keys (0 = unlimited).
        "temp-keys-space" temp_keys_space: SizeUnit = SizeUnit::from_static("0M"),
        /// Maximum number of deleted records per read-write transaction (0 = unlimited).
        "rw-deletes" rw_deletes: IntNonNegative = IntNonNegative::new(100),
        /// Maximum number of read records per read-write transaction (0 = unlimited).
        "rw-reads" rw_reads: IntNonNegative = IntNonNegative::new(200),
        /// Maximum duration of read-write transaction (0 = unlimited).
        "rw-duration" rw_duration: TimeUnit = TimeUnit::from_static("0us"),
        /// Wait time between two read-write transactions.
        "rw-delay" rw_delay: TimeUnit = TimeUnit::from_static("0us"),
        /// Run the garbage collector in dry-run mode.
        "dry-run" dry_run: bool = false,
    }
}
impl ObjectHook for GarbageCollectorSchema {}

config_object! {
    /// Prefill the cache periodically by importing zone data obtained over HTTP.
    pub struct PrefillSchema {
        /// Origin for the imported data. Cache prefilling is only supported for the root zone ('.').
        "origin" origin: DomainName,
        /// URL of the zone data to be imported.
        "url" url: Text,
        /// Time interval between consecutive refreshes of the imported zone data.
        "refresh-interval" refresh_interval: TimeUnit = TimeUnit::from_static("1d"),
        /// Path to the file containing a CA certificate bundle that is used to authenticate the HTTPS connection.
        "ca-file" ca_file: Option<ReadableFile>,
    }
}

impl ObjectHook for PrefillSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        if !self.origin.is_root() {
            cx.error(
                &path.key("origin"),
                node.get("origin"),
                "cache prefilling is only supported for the root zone ('.')",
            );
        }
    }
}

config_object! {
    /// Prefetch record by predicting based on usage patterns and repetitive queries.
    pub struct PredictionSchema {
        /// Enable/disable prediction.
        "enable" enable: bool = false,
        /// Sampling window length.
        "window" window: TimeUnit = TimeUnit::from_static("15m"),
        /// Number of windows that can be kept in memory.
        "period" period: IntPositive = IntPositive::new(24),
    }
}
impl ObjectHook for PredictionSchema {}

config_object! {
    /// These options help keep the cache hot by prefetching expiring records or learning usage patterns and repetitive queries.
    pub struct PrefetchSchema {
        /// Prefetch expiring records.
        "expiring" expiring: bool = false,
        /// Prefetch record by predicting based on usage patterns and repetitive queries.
        "prediction" prediction: PredictionSchema,
    }
}
impl ObjectHook for PrefetchSchema {}

config_object! {
    /// DNS resolver cache configuration.
    pub struct CacheSchema {
        /// Cache storage of the DNS resolver.
        "storage" storage: WritableDir = WritableDir::from_static("/var/cache/knot-resolver"),
        /// Maximum size of the cache.
        "size-max" size_max: SizeUnit = SizeUnit::from_static("100M"),
        /// Use the garbage collector (kres-cache-gc) to periodically clear cache.
        "garbage-collector" garbage_collector: GarbageCollectorSchema,
        /// Minimum time-to-live for the cache entries.
        "ttl-min" ttl_min: TimeUnit = TimeUnit::from_static("5s"),
        /// Maximum time-to-live for the cache entries.
        "ttl-max" ttl_max: TimeUnit = TimeUnit::from_static("1d"),
        /// Time interval for which a nameserver address will be ignored after determining that it does not return (useful) answers.
        "ns-timeout" ns_timeout: TimeUnit = TimeUnit::from_static("1000ms"),
        /// Prefill the cache periodically by importing zone data obtained over HTTP.
        "prefill" prefill: Option<Vec<PrefillSchema>>,
        /// These options help keep the cache hot by prefetching expiring records or learning usage patterns and repetitive queries.
        "prefetch" prefetch: PrefetchSchema,
    }
}

impl ObjectHook for CacheSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        if self.ttl_min > self.ttl_max {
            cx.error(
                path,
                Some(node),
                format!("'ttl-max' ({}) can't be smaller than 'ttl-min' ({})", self.ttl_max, self.ttl_min),
            );
        }
    }
}
