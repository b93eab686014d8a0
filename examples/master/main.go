// Command master is a minimal camera on the Switchboard Go SDK: it joins a
// signaling channel as its master and streams a media file, in a loop, to
// every viewer. See examples/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/client/media"
)

func main() {
	channel := flag.String("channel", "demo", "signaling channel name")
	video := flag.String("video", "testdata/clip.ivf", "video file (.ivf or .h264)")
	flag.Parse()

	kvs, err := newClient()
	if err != nil {
		log.Fatal(err)
	}
	src, err := media.OpenFile(*video, media.FileOptions{Loop: true})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	master, err := client.NewMaster(client.MasterConfig{
		Client: kvs, Channel: *channel, CreateChannel: true, Video: src,
		OnViewer: func(ev client.ViewerEvent) {
			fmt.Printf("viewer %s: %s (%d connected)\n", ev.ViewerID, ev.State, ev.Peers)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Printf("streaming %s to channel %s; Ctrl-C stops\n", *video, *channel)
	if err := master.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
