variable "name" {
  description = "Repository name, e.g. arbiter-staging/ray-node."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed key for image layers."
  type        = string
}

variable "keep_images" {
  description = "How many tagged images to keep; older ones expire (the running tag is pinned by the node groups)."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
