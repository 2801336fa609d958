// Command ctinode runs and manages a ctimesh node. See the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ctinode:", err)
		var ec exitCoder
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

// exitCoder lets an error choose the process exit code.
type exitCoder interface{ ExitCode() int }

// Exit codes scripts can rely on.
const (
	exitFailure  = 1 // anything else
	exitUsage    = 2 // bad flags or arguments
	exitRefused  = 3 // the node refused the request (invalid input, forbidden)
	exitNoNode   = 4 // no running node answered
	exitNotFound = 5
)

type codedError struct {
	code int
	err  error
}

func (e codedError) Error() string { return e.err.Error() }
func (e codedError) Unwrap() error { return e.err }
func (e codedError) ExitCode() int { return e.code }

func usageError(format string, args ...any) error {
	return codedError{exitUsage, fmt.Errorf(format, args...)}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "ctinode",
		Short:         "ctimesh node: share signed STIX threat intelligence by TLP over a federated mesh",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return codedError{exitUsage, err}
	})
	root.AddCommand(
		newDemoCmd(),
		newInitCmd(),
		newRunCmd(),
		newPublishCmd(),
		newRetractCmd(),
		newBackupCmd(),
		newRestoreCmd(),
		newTaxiiCmd(),
		newObjectsCmd(),
		newPeersCmd(),
		newStatusCmd(),
		newTrustCmd(),
		newFederationCmd(),
		newCredentialCmd(),
		newVersionCmd(),
		newDecisionsCmd(), newFeedsCmd(), newEventsCmd(), newForksCmd(), newVersionsCmd(), newImportCmd(),
	)
	root.AddCommand(newQualityCmds()...)
	return root
}
