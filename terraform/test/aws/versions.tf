terraform {
  # terraform_data is built in from 1.4; no provider to download.
  required_version = ">= 1.4"
}
