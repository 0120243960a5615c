package httpapi_test

import (
	"context"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/httpapi"
)

// TestCloudEventsSDK has a client nobody here wrote, the CloudEvents Go
// SDK, send events in binary and in structured mode, and checks that the
// events published carry every attribute it set.
func TestCloudEventsSDK(t *testing.T) {
	h := newHarness(t, httpapi.Options{Token: "tok"}, 0)
	client, err := cloudevents.NewClientHTTP(
		cloudevents.WithTarget(h.url+"/v1/events"),
		cehttp.WithHeader("Authorization", "Bearer tok"),
	)
	if err != nil {
		t.Fatal(err)
	}
	modes := []struct {
		name string
		ctx  func(context.Context) context.Context
	}{
		{"binary", cloudevents.WithEncodingBinary},
		{"structured", cloudevents.WithEncodingStructured},
	}
	datas := []struct {
		name string
		ct   string
		data any
	}{
		{"json", cloudevents.ApplicationJSON, map[string]any{"id": 42, "product_id": "sku-1"}},
		{"bytes", "application/octet-stream", []byte{0xff, 0x00, 0xc3, 0x28, 0x80}},
		{"text", cloudevents.TextPlain, []byte("Sending confirmation for order 42")},
	}
	for _, m := range modes {
		for _, d := range datas {
			t.Run(m.name+"/"+d.name, func(t *testing.T) {
				e := cloudevents.NewEvent()
				e.SetID("sdk-" + m.name + "-" + d.name)
				e.SetSource("https://sdk.example/producer")
				e.SetType("order.placed")
				e.SetSubject("order/42 für Ünïcode")
				e.SetDataSchema("https://sdk.example/schemas/order.json")
				e.SetTime(time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC))
				e.SetExtension("correlationid", "corr-1")
				e.SetExtension("priority", 7)
				e.SetExtension("urgent", true)
				if err := e.SetData(d.ct, d.data); err != nil {
					t.Fatal(err)
				}
				if res := client.Send(m.ctx(t.Context()), e); !cloudevents.IsACK(res) {
					t.Fatalf("send: %v", res)
				}
				want := &event.Event{
					ID: e.ID(), Source: e.Source(), Type: e.Type(), SpecVersion: "1.0",
					Time: e.Time(), Subject: e.Subject(), DataSchema: e.DataSchema(),
					DataContentType: e.DataContentType(),
					Extensions: []event.Attr{
						{Name: "correlationid", Value: "corr-1"},
						{Name: "priority", Value: "7"},
						{Name: "urgent", Value: "true"},
					},
					Data: e.Data(),
				}
				if diff := diffEvents(h.next(t), want); diff != "" {
					t.Fatal(diff)
				}
			})
		}
	}
}
