"""A submitted job's plan, made within the invocation's time: a long listing hands itself over to the next one."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from serverless_patterns.fan_out import planning
from serverless_patterns.fan_out.handovers import RESERVED_MILLIS, hand_over
from serverless_patterns.fan_out.jobs import JobSpec, Limits
from serverless_patterns.fan_out.planning import Listing, ManifestWriter, Plan
from serverless_patterns.shared import aws_clients, settings

logger = Logger(child=True)


def plan_job(spec: JobSpec, limits: Limits, context: LambdaContext) -> Plan | None:
    """The job's plan, or None when a listing goes on in another invocation."""
    s3, bucket = aws_clients.client("s3"), settings.required("JOB_BUCKET")
    writer = ManifestWriter(s3, bucket, planning.manifest_prefix(spec.job_id, context.aws_request_id))
    if spec.source.type == "items":
        return planning.plan_items(spec.source, limits, writer)
    if spec.source.type == "objects":
        return list_on(spec, Listing(manifest=writer.prefix), limits, context)
    return planning.plan_object(s3, spec.source, limits, writer)


def list_on(spec: JobSpec, listing: Listing, limits: Limits, context: LambdaContext) -> Plan | None:
    """List the source's prefix until done, or hand the listing over before this invocation's time runs out."""
    listing = planning.list_objects(
        aws_clients.client("s3"),
        spec.source,
        limits,
        listing,
        settings.required("JOB_BUCKET"),
        lambda: context.get_remaining_time_in_millis() > RESERVED_MILLIS,
    )
    if listing.done:
        return planning.listing_plan(spec.source, listing)
    hand_over(context, {"listing": {"spec": spec.as_dict(), "state": listing.as_dict()}})
    logger.info("listing handed over to a new invocation", extra={"objects_in_subtasks": listing.count})
    return None
