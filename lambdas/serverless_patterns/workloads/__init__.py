"""Reference per-chunk workloads; point the fan_out module at your own instead."""
