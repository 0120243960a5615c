// Command goprog is a test guest for package instrument: built for wasip1,
// it computes with loops, recursion and the Go runtime (allocation, maps,
// goroutines) and prints the results, so that the instrumented module can
// be checked to print the same. With the argument "spin" it runs "for {}"
// instead, which only the inserted checks can stop.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "spin" {
		fmt.Println("spinning")
		spin()
	}
	n := 200000
	if len(os.Args) > 1 && os.Args[1] == "big" {
		n = 2000000
	}
	count, sum := primes(n)
	fmt.Fprintf(os.Stdout, "primes below %d: %d, sum %d\n", n, count, sum)
	fmt.Fprintf(os.Stdout, "fib(24) = %d\n", fib(24))

	words := map[string]int{}
	for i := 0; i < 5000; i++ {
		words[fmt.Sprintf("w%d", i%97)] += i
	}
	keys := make([]string, 0, len(words))
	for k := range words {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(os.Stdout, "words: %d, first %s=%d, last %s=%d\n",
		len(keys), keys[0], words[keys[0]], keys[len(keys)-1], words[keys[len(keys)-1]])

	done := make(chan string)
	go func() { done <- strings.Repeat("ab", 3) }()
	fmt.Fprintf(os.Stdout, "goroutine says %s\n", <-done)
}

// primes counts and sums the primes below n with a sieve.
func primes(n int) (count, sum int) {
	composite := make([]bool, n)
	for i := 2; i < n; i++ {
		if composite[i] {
			continue
		}
		count++
		sum += i
		for j := i * i; j < n; j += i {
			composite[j] = true
		}
	}
	return count, sum
}

// fib is deliberately exponential: recursion without loops in Go source.
func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

//go:noinline
func spin() {
	for {
	}
}
