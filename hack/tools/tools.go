//go:build tools

// Package tools pins the versions of the developer tools that the Makefile
// builds (golangci-lint). It is a separate module so that the tools'
// dependencies never enter the root module.
package tools

import (
	_ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
)
