// Package compat checks that every real client of the nimble API works with
// opennimble: the AWS CLI v2 and boto3 from Debian, the AWS SDK for
// JavaScript v3 and aws-sdk-go v1, each through the same scenario against a
// server built from this repository and run as a separate process, plus the
// requests R paws sends (paws itself cannot be installed here). README.md in
// this folder says what each client checks and what to install.
//
// A missing client is a failure, not a skip: the test says what to install.
package compat
