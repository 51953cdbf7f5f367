/// An amount of US dollars as people read it: "$12.34", or "$0.0042" for
/// amounts under a dollar (token prices make those common).
public func dollars(_ amount: Double) -> String {
    guard amount.isFinite else { return "$-" }
    let digits = abs(amount) < 1 && amount != 0 ? 4 : 2
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let cents = (abs(amount) * scale).rounded()
    let whole = Int(cents / scale)
    let fraction = String(Int(cents.truncatingRemainder(dividingBy: scale)))
    let sign = amount < 0 && cents > 0 ? "-" : ""
    return "\(sign)$\(whole).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
}
