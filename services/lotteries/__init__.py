"""抽奖 lotteries: apply-then-draw (commitment, frozen entries, public beacon, 公示) and instant win."""
