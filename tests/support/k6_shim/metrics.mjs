// k6/metrics: every sample kept, summarised by run.mjs at the end.
class Metric {
  constructor(name, type) {
    this.name = name;
    this.type = type;
    this.values = [];
    globalThis.k6Shim.metrics.set(name, this);
  }

  add(value) {
    this.values.push(Number(value));
  }
}

export class Trend extends Metric {
  constructor(name) {
    super(name, 'trend');
  }
}

export class Counter extends Metric {
  constructor(name) {
    super(name, 'counter');
  }
}
