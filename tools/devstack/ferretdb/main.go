// Command ferretdb runs FerretDB's embeddable server with its SQLite backend, so the native
// dev stack has a MongoDB wire-protocol server without a container engine. devstack has it listen
// on a Unix socket only (FerretDB 1.x over SQLite has no authentication; the socket's directory
// lets only its owner in); the offline container image on TCP.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	addr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on (empty: none)")
	unix := flag.String("listen-unix", "", "Unix socket path to listen on (empty: none)")
	dataDir := flag.String("data-dir", "data", "directory for the SQLite databases")
	flag.Parse()

	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		log.Fatal(err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *addr, Unix: *unix},
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dataDir + "/",
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	log.Printf("ferretdb listening on %q and %q (sqlite in %s)", *addr, *unix, *dataDir)
	if err := f.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
