module kubeline.dev/pause

go 1.22
