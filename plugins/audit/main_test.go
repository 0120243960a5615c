package main

import (
	"strings"
	"testing"

	"github.com/evhost/evhost/plugins/pdk"
	"github.com/evhost/evhost/plugins/pdk/pdktest"
)

func TestAuditLogsEveryEvent(t *testing.T) {
	e := pdk.Event{ID: "e-1", Source: "/shop", Type: "anything.at.all", SpecVersion: "1.0",
		Extensions: map[string]string{"causationid": "c-1"}}
	res := (&pdktest.Host{}).Run(e)
	if res.Status != pdk.StatusDone || len(res.Logs) != 1 ||
		!strings.Contains(res.Logs[0].Text, "anything.at.all id=e-1") || !strings.Contains(res.Logs[0].Text, "causation=c-1") {
		t.Fatalf("%+v", res)
	}
}
