// Command command is a WASI command handler (ABI v1, section 8): it reads
// the event as CloudEvents JSON on stdin and writes emits as JSON lines.
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	var ev map[string]any
	if err := json.NewDecoder(os.Stdin).Decode(&ev); err != nil {
		fmt.Fprintln(os.Stderr, "bad event:", err)
		os.Exit(65)
	}
	fmt.Println("handling", ev["type"])
	switch ev["type"] {
	case "cmd.reject":
		os.Exit(65)
	case "cmd.retry":
		fmt.Fprintln(os.Stderr, "cannot do it now")
		os.Exit(3)
	case "cmd.spin":
		for {
		}
	}
	out, _ := json.Marshal(map[string]any{"specversion": "1.0", "type": "cmd.out", "data": map[string]any{"seen": ev["id"]}})
	fmt.Println(string(out))
	fmt.Print("last line without newline")
}
