package main

import (
	"os"
	"os/signal"
	"syscall"
)

// The sandbox's process: holds the pod's namespaces until told to stop.
func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
