print("batchhost")
