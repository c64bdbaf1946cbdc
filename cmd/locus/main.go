// Command locus is a scriptable SIP registrar.
package main

import (
	"os"

	"github.com/alecthomas/kong"
)

func main() {
	var cli CLI
	ctx := kong.Parse(&cli,
		kong.Name("locus"),
		kong.Description("A scriptable SIP registrar: every request runs through a Lua routing script."),
		kong.UsageOnError(),
	)
	if err := ctx.Run(); err != nil {
		os.Stderr.WriteString("locus: " + err.Error() + "\n")
		os.Exit(1)
	}
}
