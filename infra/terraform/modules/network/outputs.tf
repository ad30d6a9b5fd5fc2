output "vpc_id" {
  description = "The VPC's id."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnets: the Lambdas and the database live here."
  value       = aws_subnet.private[*].id
}

output "lambda_security_group_id" {
  description = "The Helix Lambdas' security group (the database admits it)."
  value       = aws_security_group.lambda.id
}
