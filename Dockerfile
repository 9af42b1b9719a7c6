# Focal service image: a static binary on a distroless base.
#   docker build -t focal .
#   docker run -p 8080:8080 -e FOCAL_JWT_SECRET=... focal
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/focal ./cmd/focal

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/focal /usr/local/bin/focal
COPY examples /etc/focal/examples
EXPOSE 8080
USER nonroot:nonroot
# SIGTERM drains in-flight turns and streams (FOCAL_SHUTDOWN_DRAIN) before exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/focal"]
CMD ["serve"]
