"""Example workload: order totals per region from a CSV (order_id,region,quantity,amount)."""
