module goprog

go 1.24
