# Evaluates the Vagrantfile without Vagrant: records how every machine is configured and prints
# it as JSON (tests/cluster/test_vagrantfile.py reads it).
require "json"

# `x.a = 1` records a value, `x.a` a nested recorder (config.vm), `x.a(args) { |c| }` a call
# with the block's own recorder (config.vm.define, provider, network).
class Recorder
  def initialize
    @values = {}
  end

  def method_missing(name, *args, **kwargs, &block)
    key = name.to_s
    return @values[key.chomp("=")] = args.first if key.end_with?("=")
    return @values[key] ||= Recorder.new if args.empty? && kwargs.empty? && block.nil?

    child = Recorder.new
    block.call(child) if block && !%w[before after].include?(key) # triggers: only on `up`
    (@values[key] ||= []) << { "args" => args, "kwargs" => kwargs, "config" => child }
  end

  def respond_to_missing?(*)
    true
  end

  def to_json(*args)
    @values.to_json(*args)
  end
end

module Vagrant
  def self.configure(_version)
    config = Recorder.new
    yield config
    puts config.to_json
  end
end

load ARGV.fetch(0)
