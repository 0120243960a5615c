module github.com/evhost/evhost/plugins

go 1.24
