//go:build tools

package opennimble

import (
	_ "github.com/aws/aws-sdk-go/service/nimblestudio"
	_ "github.com/aws/smithy-go/aws-http-auth/sigv4"
	_ "github.com/spf13/cobra"
	_ "modernc.org/sqlite"
)
