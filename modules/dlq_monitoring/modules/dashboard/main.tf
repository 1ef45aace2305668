# One CloudWatch dashboard for a stack's queue inventory: a row per queue
# (backlog, age, throughput, DLQ arrivals, its consumers' errors, throttles and
# concurrency), led by the status of every alarm and a row for all functions.

data "aws_region" "current" {}

locals {
  region     = data.aws_region.current.name
  queue_keys = sort(keys(var.queues))

  header_height    = 3
  alarms_height    = length(var.alarm_arns) == 0 ? 0 : 6
  functions_y      = local.header_height + local.alarms_height
  functions_height = length(var.function_names) == 0 ? 0 : 6
  queues_y         = local.functions_y + local.functions_height
  # A queue's section: a title line, then two rows of three graphs.
  section_height = 13

  # Errors and throttles of a list of functions, keyed by the list (flatten
  # would also flatten each metric's own list).
  errors_and_throttles = {
    for names in distinct(concat([var.function_names], [for queue in values(var.queues) : queue.consumer_function_names])) :
    join(",", names) => [
      for pair in setproduct(names, ["Errors", "Throttles"]) :
      ["AWS/Lambda", pair[1], "FunctionName", pair[0], { label = "${pair[0]} ${lower(pair[1])}" }]
    ]
  }

  header = [{
    type   = "text"
    x      = 0
    y      = 0
    width  = 24
    height = local.header_height
    properties = {
      markdown = join("\n\n", compact([
        "# ${var.name}",
        "Queues: ${join(", ", [for key in local.queue_keys : "`${var.queues[key].queue_name}`"])}. Every queue has a dead-letter queue; arrivals there mean messages failed every retry.",
        var.runbook_url == null ? "" : "What each alarm means and what to do: [runbook](${var.runbook_url}).",
      ]))
    }
  }]

  alarm_status = [for widget in [{
    type   = "alarm"
    x      = 0
    y      = local.header_height
    width  = 24
    height = local.alarms_height
    properties = {
      title  = "Alarms"
      alarms = var.alarm_arns
      sortBy = "stateUpdatedTimestamp"
    }
  }] : widget if length(var.alarm_arns) > 0]

  all_functions = [for widget in [
    {
      type   = "metric"
      x      = 0
      y      = local.functions_y
      width  = 12
      height = local.functions_height
      properties = {
        title   = "All functions: errors and throttles"
        region  = local.region
        view    = "timeSeries"
        stat    = "Sum"
        period  = var.period_seconds
        metrics = local.errors_and_throttles[join(",", var.function_names)]
      }
    },
    {
      type   = "metric"
      x      = 12
      y      = local.functions_y
      width  = 12
      height = local.functions_height
      properties = {
        title   = "All functions: concurrent executions"
        region  = local.region
        view    = "timeSeries"
        stat    = "Maximum"
        period  = var.period_seconds
        metrics = [for function_name in var.function_names : ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", function_name, { label = function_name }]]
      }
    },
  ] : widget if length(var.function_names) > 0]

  queue_sections = flatten([for index, key in local.queue_keys : [
    for widget in [
      {
        type   = "text"
        x      = 0
        y      = 0
        width  = 24
        height = 1
        properties = {
          markdown = "## ${key}: `${var.queues[key].queue_name}` → DLQ `${var.queues[key].dlq_name}`${length(var.queues[key].consumer_function_names) == 0 ? "" : " · consumers ${join(", ", [for name in var.queues[key].consumer_function_names : "`${name}`"])}"}"
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 1
        width  = 8
        height = 6
        properties = {
          title  = "${key}: messages waiting"
          region = local.region
          view   = "timeSeries"
          stat   = "Maximum"
          period = var.period_seconds
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.queues[key].queue_name, { label = "Visible" }],
            ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", var.queues[key].queue_name, { label = "In flight" }],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.queues[key].dlq_name, { label = "In the DLQ" }],
          ]
          annotations = { horizontal = [for value in [var.queues[key].alarm_thresholds.depth] : { label = "Depth alarm", value = value } if value != null] }
        }
      },
      {
        type   = "metric"
        x      = 8
        y      = 1
        width  = 8
        height = 6
        properties = {
          title  = "${key}: age of oldest message (s)"
          region = local.region
          view   = "timeSeries"
          stat   = "Maximum"
          period = var.period_seconds
          metrics = [
            ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", var.queues[key].queue_name, { label = "Source queue" }],
            ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", var.queues[key].dlq_name, { label = "DLQ" }],
          ]
          annotations = {
            horizontal = concat(
              [for value in [var.queues[key].alarm_thresholds.oldest_message_age] : { label = "Age alarm", value = value } if value != null],
              [for value in [var.queues[key].alarm_thresholds.message_retention_seconds] : { label = "Messages expire", value = value } if value != null],
            )
          }
        }
      },
      {
        type   = "metric"
        x      = 16
        y      = 1
        width  = 8
        height = 6
        properties = {
          title  = "${key}: sent, received, deleted per period"
          region = local.region
          view   = "timeSeries"
          stat   = "Sum"
          period = var.period_seconds
          metrics = [
            ["AWS/SQS", "NumberOfMessagesSent", "QueueName", var.queues[key].queue_name, { id = "sent", label = "Sent" }],
            ["AWS/SQS", "NumberOfMessagesReceived", "QueueName", var.queues[key].queue_name, { id = "received", label = "Received" }],
            ["AWS/SQS", "NumberOfMessagesDeleted", "QueueName", var.queues[key].queue_name, { id = "deleted", label = "Deleted" }],
            [{ expression = "sent - deleted", id = "growth", label = "Growth (sent - deleted)" }],
          ]
          annotations = { horizontal = [for value in [var.queues[key].alarm_thresholds.growth] : { label = "Growth alarm", value = value } if value != null] }
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 7
        width  = 8
        height = 6
        properties = {
          title  = "${key}: DLQ arrivals per period"
          region = local.region
          view   = "timeSeries"
          stat   = "Maximum"
          period = var.period_seconds
          # Messages SQS moves to a DLQ are not counted as sent there, so
          # arrivals are the rises of its backlog.
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.queues[key].dlq_name, { id = "dlq", visible = false }],
            [{ expression = "IF(DIFF(dlq) > 0, DIFF(dlq), 0)", id = "arrivals", label = "Arrived in the DLQ" }],
          ]
        }
      },
      {
        type   = "metric"
        x      = 8
        y      = 7
        width  = 8
        height = 6
        properties = {
          title   = "${key}: consumer errors and throttles"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = var.period_seconds
          metrics = local.errors_and_throttles[join(",", var.queues[key].consumer_function_names)]
        }
      },
      {
        type   = "metric"
        x      = 16
        y      = 7
        width  = 8
        height = 6
        properties = {
          title       = "${key}: consumer concurrency"
          region      = local.region
          view        = "timeSeries"
          stat        = "Maximum"
          period      = var.period_seconds
          metrics     = [for function_name in var.queues[key].consumer_function_names : ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", function_name, { label = function_name }]]
          annotations = { horizontal = [for value in [var.queues[key].maximum_concurrency] : { label = "Concurrency cap", value = value } if value != null] }
        }
      },
    ] :
    merge(widget, { y = local.queues_y + index * local.section_height + widget.y })
    # A queue without consumers has no consumer graphs (an empty metric list is invalid).
    if length(var.queues[key].consumer_function_names) > 0 || !strcontains(try(widget.properties.title, ""), "consumer")
  ]])

  body = {
    start          = "-PT3H"
    periodOverride = "inherit"
    widgets        = concat(local.header, local.alarm_status, local.all_functions, local.queue_sections)
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode(local.body)
}
