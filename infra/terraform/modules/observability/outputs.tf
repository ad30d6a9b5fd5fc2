output "api_access_log_group_arn" {
  description = "SAM parameter ApiAccessLogGroupArn: the access log of both APIs (HTTP, and the streamed turns REST API)."
  value       = aws_cloudwatch_log_group.api_access.arn
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies; subscribe on-call here."
  value       = aws_sns_topic.alarms.arn
}

output "logs_kms_key_arn" {
  description = "The key the log groups are encrypted with."
  value       = module.key.key_arn
}

output "budget_alert_topic_arn" {
  description = "SAM parameter BudgetAlertTopicArn: the SNS topic budget-reconcile publishes budget alerts to."
  value       = aws_sns_topic.budget_alerts.arn
}
