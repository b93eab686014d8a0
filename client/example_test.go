package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// The examples below need a running server (Switchboard or real KVS), so
// they are compiled but not run.

var creds = client.StaticCredentials{
	AccessKeyID:     "AKIAIOSFODNN7EXAMPLE",
	SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}

// Find or create a channel, then ask for a viewer's endpoints and TURN
// servers.
func ExampleClient_EnsureChannel() {
	ctx := context.Background()
	kvs, err := client.New(client.Config{
		Endpoint:    "https://localhost:8443",
		Region:      "us-west-2",
		Credentials: creds,
	})
	if err != nil {
		log.Fatal(err)
	}
	info, err := kvs.EnsureChannel(ctx, "front-door")
	if errors.Is(err, client.ErrUntrustedCertificate) {
		log.Fatal("trust the server's CA through Config.TLSConfig: ", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	eps, err := kvs.GetSignalingChannelEndpoint(ctx, info.ChannelARN, kvsapi.RoleViewer)
	if err != nil {
		log.Fatal(err)
	}
	servers, err := kvs.GetIceServerConfig(ctx, eps.HTTPS, info.ChannelARN, "viewer-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.ChannelARN, eps.WSS, len(servers))
}

// Tell a missing channel from other failures.
func ExampleIsNotFound() {
	kvs, err := client.New(client.Config{Endpoint: "https://localhost:8443", Region: "us-west-2", Credentials: creds})
	if err != nil {
		log.Fatal(err)
	}
	_, err = kvs.DescribeSignalingChannel(context.Background(), "no-such-channel")
	switch {
	case client.IsNotFound(err):
		fmt.Println("no such channel")
	case err != nil:
		log.Fatal(err)
	}
}

// A viewer sends its offer and ICE candidates to the master and handles
// what comes back.
func ExampleDialSignaling_viewer() {
	ctx := context.Background()
	sig, err := client.DialSignaling(ctx, client.SignalingConfig{
		Endpoint:    "wss://localhost:8443", // Endpoints.WSS for the VIEWER role
		ChannelARN:  "arn:aws:kinesisvideo:us-west-2:111122223333:channel/front-door/1700000000000",
		Role:        kvsapi.RoleViewer,
		ClientID:    "viewer-1",
		Region:      "us-west-2",
		Credentials: creds,
		Reconnect:   true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sig.Close()

	// A viewer's messages always go to the master: no recipient needed.
	if err := sig.SendOffer(ctx, "", client.SessionDescription{SDP: "v=0\r\n..."}); err != nil {
		log.Fatal(err)
	}
	for ev := range sig.Events() {
		switch ev.MessageType {
		case kvsapi.ActionSDPAnswer:
			answer, err := ev.SessionDescription()
			fmt.Println("answer:", answer.SDP, err)
		case kvsapi.ActionICECandidate:
			candidate, err := ev.ICECandidate()
			fmt.Println("remote candidate:", candidate.Candidate, err)
		case kvsapi.MessageReconnectICEServer:
			fmt.Println("fetch new TURN servers with GetIceServerConfig")
		case client.EventStateChange:
			fmt.Println("signaling", ev.State, ev.Err)
		}
	}
	fmt.Println("stopped:", sig.Err())
}

// A master answers every viewer's offer; senderClientId says which viewer
// sent it. A correlation id makes the server report a refused message.
func ExampleSignalingClient_Send() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sig, err := client.DialSignaling(ctx, client.SignalingConfig{
		Endpoint:    "wss://localhost:8443", // Endpoints.WSS for the MASTER role
		ChannelARN:  "arn:aws:kinesisvideo:us-west-2:111122223333:channel/front-door/1700000000000",
		Role:        kvsapi.RoleMaster,
		Region:      "us-west-2",
		Credentials: creds,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sig.Close()
	for ev := range sig.Events() {
		switch ev.MessageType {
		case kvsapi.ActionSDPOffer:
			payload, err := client.EncodePayload(client.SessionDescription{Type: "answer", SDP: "v=0\r\n..."})
			if err != nil {
				log.Fatal(err)
			}
			err = sig.Send(ctx, kvsapi.ClientMessage{
				Action:            kvsapi.ActionSDPAnswer,
				RecipientClientID: ev.SenderClientID,
				MessagePayload:    payload,
				CorrelationID:     "answer-1",
			})
			if err != nil {
				log.Print(err)
			}
		case kvsapi.MessageStatusResponse:
			fmt.Println("refused:", ev.StatusResponse.CorrelationID, ev.StatusError())
		}
	}
}
