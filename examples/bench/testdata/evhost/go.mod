module evhost.bench/evhost

go 1.24

require github.com/evhost/evhost/plugins v0.0.0

replace github.com/evhost/evhost/plugins => ../../../../plugins
