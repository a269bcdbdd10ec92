# frozen_string_literal: true

require "zlib"

# Reads a PNG far enough to tell whether it shows anything: a screenshot of a page that failed to
# render (a blank or all-black window) is one colour from corner to corner. Handles what
# Chromium writes: 8 bits per channel, not interlaced.
module BrowserPng
  SIGNATURE = "\x89PNG\r\n\x1A\n".b
  # Colour type => channels per pixel.
  CHANNELS = { 0 => 1, 2 => 3, 4 => 2, 6 => 4 }.freeze

  # The image's size and pixel layout.
  Header = Struct.new(:width, :height, :depth, :colour_type, :interlace) do
    def pixel_bytes
      CHANNELS.fetch(colour_type)
    end

    def row_bytes
      width * pixel_bytes
    end
  end

  module_function

  # Whether the image at +path+ has at least two different pixels. Rows are decoded in order
  # and the search stops at the first pixel that differs from the first one.
  def several_colours?(path)
    header, pixels = read(path)
    first = nil
    each_row(header, pixels) do |row|
      first ||= row.byteslice(0, header.pixel_bytes)
      return true unless row == first * header.width
    end
    false
  end

  def read(path)
    data = File.binread(path)
    raise ArgumentError, "#{path} is not a PNG" unless data.start_with?(SIGNATURE)

    header = nil
    compressed = +"".b
    chunks(data) do |type, body|
      header = parse_header(body) if type == "IHDR"
      compressed << body if type == "IDAT"
    end
    [header, Zlib::Inflate.inflate(compressed)]
  end

  def chunks(data)
    offset = SIGNATURE.bytesize
    while offset < data.bytesize
      length, type = data.byteslice(offset, 8).unpack("Na4")
      yield type, data.byteslice(offset + 8, length)
      offset += 12 + length
    end
  end

  def parse_header(body)
    header = Header.new(*body.unpack("NNCCx2C"))
    unless header.depth == 8 && header.interlace.zero? && CHANNELS.key?(header.colour_type)
      raise ArgumentError, "unsupported PNG layout #{header.to_a.inspect}"
    end

    header
  end

  # Yields each row's pixels (a binary String), undoing the row filters (PNG spec, section 9).
  def each_row(header, pixels)
    stride = header.row_bytes
    previous = Array.new(stride, 0)
    header.height.times do |index|
      offset = index * (stride + 1)
      filter = pixels.getbyte(offset)
      row = unfilter(filter, pixels.byteslice(offset + 1, stride).bytes, previous, header.pixel_bytes)
      yield row.pack("C*")
      previous = row
    end
  end

  def unfilter(filter, row, above, step)
    row.each_index do |i|
      left = i >= step ? row[i - step] : 0
      corner = i >= step ? above[i - step] : 0
      row[i] = (row[i] + predictor(filter, left, above[i], corner)) & 0xFF
    end
    row
  end

  def predictor(filter, left, above, corner)
    case filter
    when 0 then 0
    when 1 then left
    when 2 then above
    when 3 then (left + above) / 2
    when 4 then paeth(left, above, corner)
    else raise ArgumentError, "bad PNG row filter #{filter}"
    end
  end

  def paeth(left, above, corner)
    estimate = left + above - corner
    to_left = (estimate - left).abs
    to_above = (estimate - above).abs
    to_corner = (estimate - corner).abs
    return left if to_left <= to_above && to_left <= to_corner

    to_above <= to_corner ? above : corner
  end
end
