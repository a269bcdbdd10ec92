# frozen_string_literal: true

require "openssl"
require "open3"

# Redis over TLS, as `ssl: true` / `rediss://` with redis-client's ssl_params.
RSpec.describe "TLS connections" do
  # The CA, certificates and TLS-only redis-server shared by the examples.
  TlsFixture = Struct.new(:dir, :pid, :port)
  fixture = TlsFixture.new

  def openssl!(*args)
    out, status = Open3.capture2e("openssl", *args)
    raise "openssl #{args.first} failed: #{out}" unless status.success?
  end

  before(:all) do
    dir = fixture.dir = Dir.mktmpdir("ferrokiq-tls")
    Dir.chdir(dir) do
      openssl!("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
               "-days", "2", "-subj", "/CN=Ferrokiq Test CA")
      %w[server client].each do |name|
        openssl!("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "#{name}.key", "-out", "#{name}.csr",
                 "-subj", "/CN=#{name == "server" ? "localhost" : "client"}")
        File.write("#{name}.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl!("x509", "-req", "-in", "#{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", "#{name}.crt", "-days", "2", "-extfile", "#{name}.ext")
      end
    end
    port = RedisServer.free_port
    pid = Process.spawn("redis-server", "--port", "0", "--tls-port", port.to_s, "--bind", "127.0.0.1",
                        "--tls-cert-file", "#{dir}/server.crt", "--tls-key-file", "#{dir}/server.key",
                        "--tls-ca-cert-file", "#{dir}/ca.crt", "--tls-auth-clients", "yes",
                        "--save", "", "--appendonly", "no", "--dir", dir, out: File::NULL, err: File::NULL)
    fixture.pid = pid
    fixture.port = port
    eventually(timeout: 10) { TCPSocket.open("127.0.0.1", port).close || true rescue false } # rubocop:disable Style/RescueModifier
  end

  after(:all) do
    Process.kill("TERM", fixture.pid) && Process.wait(fixture.pid) if fixture.pid
    FileUtils.rm_rf(fixture.dir) if fixture.dir
  end

  let(:dir) { fixture.dir }
  let(:port) { fixture.port }

  # The server requires client certificates; every pool presents one unless told otherwise.
  def tls_pool(ssl_params: {}, **options)
    params = { cert: "#{dir}/client.crt", key: File.read("#{dir}/client.key") }.merge(ssl_params)
    Sidekiq::RedisConnection.create(url: "redis://localhost:#{port}/0", ssl: true, timeout: 2,
                                    ssl_params: params, **options)
  end

  it "connects with ssl: true and a CA file, and pushes jobs" do
    pool = tls_pool(ssl_params: { ca_file: "#{dir}/ca.crt" })
    jid = Sidekiq::Client.new(pool: pool).push("class" => "TlsJob", "args" => [1])
    expect(pool.with { |conn| conn.lrange("queue:default", 0, -1) }.first).to include(jid)
  end

  it "accepts rediss:// URLs and client certificates as OpenSSL objects" do
    pool = Sidekiq::RedisConnection.create(
      url: "rediss://localhost:#{port}/0",
      ssl_params: { ca_file: "#{dir}/ca.crt",
                    cert: OpenSSL::X509::Certificate.new(File.read("#{dir}/client.crt")),
                    key: OpenSSL::PKey.read(File.read("#{dir}/client.key")) }
    )
    expect(pool.with(&:ping)).to eq("PONG")
  end

  it "skips verification with verify_mode: VERIFY_NONE" do
    expect(tls_pool(ssl_params: { verify_mode: OpenSSL::SSL::VERIFY_NONE }).with(&:ping)).to eq("PONG")
  end

  it "is refused without a client certificate when the server requires one" do
    pool = tls_pool(ssl_params: { ca_file: "#{dir}/ca.crt", cert: nil, key: nil })
    expect { pool.with(&:ping) }.to raise_error(Ferrokiq::ConnectionError)
  end

  it "refuses a server whose certificate it cannot verify" do
    expect { tls_pool.with(&:ping) }.to raise_error(Ferrokiq::CannotConnectError, /localhost:#{port}/)
  end
end
