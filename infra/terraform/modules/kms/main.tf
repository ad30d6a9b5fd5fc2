# One customer-managed KMS key with rotation, its alias, and a key policy that lets the account
# administer it through IAM (AWS's default key policy), plus whatever service statements the caller
# adds. The database, the secret and the logs each get one, so no key serves two purposes.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

resource "aws_kms_key" "this" {
  description             = var.description
  deletion_window_in_days = 30
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.key.json
}

data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_109: A key policy's "*" resource is the key itself; the account root statement is AWS's default key policy, so IAM policies decide who uses the key.
  # checkov:skip=CKV_AWS_111: Same key-policy statement: "*" is this key only, administered by the account through IAM.
  # checkov:skip=CKV_AWS_356: Same key-policy statement: a key policy cannot name narrower resources than its own key.
  source_policy_documents = var.extra_policy_json == null ? [] : [var.extra_policy_json]

  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}
