// Command mgsd is the OpenMGS server: the modem and geolocation service
// with its embedded database.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		// A second signal exits at once.
		<-ctx.Done()
		stop()
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
		<-c
		fmt.Fprintln(os.Stderr, "mgsd: second signal, exiting now")
		os.Exit(2)
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil)
	if errors.Is(err, errUsage) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mgsd:", err)
		os.Exit(1)
	}
}

// ready is told the addresses the server listens on (for tests).
type ready func(addrs map[string]string)

var errUsage = errors.New("usage")
