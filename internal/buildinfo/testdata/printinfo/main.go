// Command printinfo prints buildinfo.Get() for the package's test of stamping.
package main

import (
	"fmt"

	"github.com/foresight-dev/foresight/internal/buildinfo"
)

func main() {
	fmt.Print(buildinfo.Get().String("printinfo"))
}
