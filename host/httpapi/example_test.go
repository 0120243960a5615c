package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/httpapi"
)

// A producer posts the data of an order.placed event, with its id in a
// ce- header, to a server in front of an in-memory bus.
func Example() {
	b := membus.New(membus.Options{})
	defer b.Close(context.Background())
	srv := httptest.NewServer(httpapi.New(httpapi.Options{Publisher: b, Token: "s3cret"}))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/events/order.placed",
		strings.NewReader(`{"id":42,"product_id":"sku-1"}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("ce-id", "order-42")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	fmt.Println(res.Status)
	fmt.Print(string(body))
	// Output:
	// 202 Accepted
	// {"ids":["order-42"],"duplicates":[]}
}
