# Observability: every log group Helix writes to (created before the functions, with retention and
# encryption), metrics derived from the API's access log, and alarms on 5xx rate, p99 latency and
# budget drift, sent to one SNS topic.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  api_metrics = "Helix/Api"
  # turns and memory wait on model providers (the LLM call; embedding every chunk of a document).
  provider_p99_thresholds_ms = { turns = var.turns_p99_latency_ms, memory = var.memory_p99_latency_ms }
  p99_thresholds_ms = {
    for f in var.api_function_names : f => lookup(local.provider_p99_thresholds_ms, f, var.p99_latency_ms)
  }
}

# ------------------------------------------------------------------ one key for logs and alarms

module "key" {
  source            = "../kms"
  description       = "${var.name}: CloudWatch log groups and the alarm topic"
  alias             = "${var.name}-logs"
  extra_policy_json = data.aws_iam_policy_document.logs_key_services.json
}

moved {
  from = aws_kms_key.logs
  to   = module.key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.logs
  to   = module.key.aws_kms_alias.this
}

# What CloudWatch needs of the logs key, beside the account's administration (in the kms module).
data "aws_iam_policy_document" "logs_key_services" {
  # checkov:skip=CKV_AWS_109: These are key-policy statements: "*" is the key itself, and the services may only use it (the logs one only for this account's log groups).
  # checkov:skip=CKV_AWS_111: Same key-policy statements: "*" is this key only.
  # checkov:skip=CKV_AWS_356: Same key-policy statements: a key policy cannot name narrower resources than its own key.
  statement {
    sid       = "CloudWatchLogsEncrypts"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:log-group:*"]
    }
  }
  statement {
    sid       = "CloudWatchAlarmsPublishToTheEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

# ------------------------------------------------------------------ log groups

# Lambda writes to /aws/lambda/<function name>; creating them here sets retention and the key before
# the first invocation (SAM names every function helix-<env>-<name>).
resource "aws_cloudwatch_log_group" "function" {
  # checkov:skip=CKV_AWS_338: Retention is a per-environment choice (dev 14 days, prod 90) to bound cost; money is audited in the database ledger, not in logs.
  for_each          = toset(var.function_names)
  name              = "/aws/lambda/${var.name}-${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.key.key_arn
}

resource "aws_cloudwatch_log_group" "api_access" {
  # checkov:skip=CKV_AWS_338: Retention is a per-environment choice (dev 14 days, prod 90) to bound cost; money is audited in the database ledger, not in logs.
  name              = "/helix/${var.name}/api-access"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.key.key_arn
}

# REST APIs (the streamed turns API) write access logs through a role set once per account and region;
# HTTP APIs need none. The setting is account-wide: one Terraform root owns it (manage_api_gateway_log_role).
data "aws_iam_policy_document" "api_gateway_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "api_gateway_logs" {
  count              = var.manage_api_gateway_log_role ? 1 : 0
  name               = "${var.name}-api-gateway-logs"
  description        = "API Gateway (account setting) writes REST API access logs to CloudWatch Logs"
  assume_role_policy = data.aws_iam_policy_document.api_gateway_assume.json
}

resource "aws_iam_role_policy_attachment" "api_gateway_logs" {
  count      = var.manage_api_gateway_log_role ? 1 : 0
  role       = aws_iam_role.api_gateway_logs[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count               = var.manage_api_gateway_log_role ? 1 : 0
  cloudwatch_role_arn = aws_iam_role.api_gateway_logs[0].arn
  depends_on          = [aws_iam_role_policy_attachment.api_gateway_logs]
}

# ------------------------------------------------------------------ metrics from the API access log
# Both APIs (the HTTP API and the streamed turns REST API) write one access-log format into this group, with
# status as a number. Counting every answer, including API Gateway's own 5xx (a function that crashed or
# timed out), gives the error rate. A streamed answer is logged when it ends, with the status it began with.

resource "aws_cloudwatch_log_metric_filter" "requests" {
  name           = "${var.name}-api-requests"
  log_group_name = aws_cloudwatch_log_group.api_access.name
  pattern        = "{ $.status >= 100 }"
  metric_transformation {
    name          = "Requests"
    namespace     = local.api_metrics
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_log_metric_filter" "server_errors" {
  name           = "${var.name}-api-5xx"
  log_group_name = aws_cloudwatch_log_group.api_access.name
  pattern        = "{ $.status >= 500 }"
  metric_transformation {
    name          = "ServerErrors"
    namespace     = local.api_metrics
    value         = "1"
    default_value = "0"
  }
}

# ------------------------------------------------------------------ alarms

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = module.key.key_arn
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# Budget alerts (a user's spend past the threshold of their allowance or cap, reconciliation drift,
# repeated provider failures), published by budget-reconcile, one message per alert (attribute
# `kind` for filter policies). Separate from the alarms topic: these go to whoever runs the budget.
resource "aws_sns_topic" "budget_alerts" {
  name              = "${var.name}-budget-alerts"
  kms_master_key_id = module.key.key_arn
}

resource "aws_sns_topic_subscription" "budget_alerts_email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.budget_alerts.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${var.name}-api-5xx-rate"
  alarm_description   = "More than ${var.max_5xx_percent}% of API requests answered 5xx for 3 of the last 5 minutes (at least ${var.min_requests_for_rate} requests a minute)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.max_5xx_percent
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "rate"
    expression  = "IF(requests >= ${var.min_requests_for_rate}, 100 * errors / requests, 0)"
    label       = "5xx %"
    return_data = true
  }
  metric_query {
    id = "errors"
    metric {
      namespace   = local.api_metrics
      metric_name = aws_cloudwatch_log_metric_filter.server_errors.metric_transformation[0].name
      period      = 60
      stat        = "Sum"
    }
  }
  metric_query {
    id = "requests"
    metric {
      namespace   = local.api_metrics
      metric_name = aws_cloudwatch_log_metric_filter.requests.metric_transformation[0].name
      period      = 60
      stat        = "Sum"
    }
  }
}

# p99 of each API function's duration (Lambda's own metric, which keeps raw values for percentiles).
# turns and memory wait on model providers, so they get their own thresholds.
resource "aws_cloudwatch_metric_alarm" "p99_latency" {
  for_each            = toset(var.api_function_names)
  alarm_name          = "${var.name}-${each.value}-p99-latency"
  alarm_description   = "${var.name}-${each.value}: p99 duration above ${local.p99_thresholds_ms[each.value]} ms in 3 of the last 5 periods of 5 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = "${var.name}-${each.value}" }
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.p99_thresholds_ms[each.value]
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# budget-reconcile prints EMF: namespace Helix, dimension Function=budget-reconcile.
resource "aws_cloudwatch_metric_alarm" "reconcile_drift" {
  alarm_name          = "${var.name}-budget-drift"
  alarm_description   = "budget-reconcile found a balance that disagrees with grants - ledger - holds. See its log for the user and amounts."
  namespace           = "Helix"
  metric_name         = "DriftsFound"
  dimensions          = { Function = "budget-reconcile" }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "reconcile_missing" {
  alarm_name          = "${var.name}-budget-reconcile-not-running"
  alarm_description   = "budget-reconcile reported nothing for 30 minutes: expired holds are not being released."
  namespace           = "Helix"
  metric_name         = "UsersChecked"
  dimensions          = { Function = "budget-reconcile" }
  statistic           = "SampleCount"
  period              = 1800
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each            = toset(var.function_names)
  alarm_name          = "${var.name}-${each.value}-errors"
  alarm_description   = "${var.name}-${each.value} failed invocations (crashes, timeouts, cold-start errors such as a bad secret)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = "${var.name}-${each.value}" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}
